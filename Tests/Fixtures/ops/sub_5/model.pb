
:
aPlaceholder*
dtype0*
shape:
:
bPlaceholder*
dtype0*
shape:

SubSubab*
T0

yIdentitySub*
T0"ª