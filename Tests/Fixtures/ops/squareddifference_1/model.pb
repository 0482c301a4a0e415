
:
aPlaceholder*
dtype0*
shape:
.
bPlaceholder*
dtype0*
shape:
5
SquaredDifferenceSquaredDifferenceab*
T0
)
yIdentitySquaredDifference*
T0"ª