
:
aPlaceholder*
dtype0*
shape:
.
bPlaceholder*
dtype0*
shape:
!
MaximumMaximumab*
T0

yIdentityMaximum*
T0"ª