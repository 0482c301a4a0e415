
:
xPlaceholder*
dtype0*
shape:
r
	AvgPool2DAvgPoolx*
T0*
data_formatNHWC*
ksize
*
paddingSAME*
strides

!
yIdentity	AvgPool2D*
T0"ª