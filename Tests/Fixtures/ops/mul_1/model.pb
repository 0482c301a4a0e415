
:
aPlaceholder*
dtype0*
shape:
.
bPlaceholder*
dtype0*
shape:

MulMulab*
T0

yIdentityMul*
T0"ª