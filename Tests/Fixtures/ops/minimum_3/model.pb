
:
aPlaceholder*
dtype0*
shape:
:
bPlaceholder*
dtype0*
shape:
!
MinimumMinimumab*
T0

yIdentityMinimum*
T0"ª