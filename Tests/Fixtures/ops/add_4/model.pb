
2
aPlaceholder*
dtype0*
shape
:
6
bPlaceholder*
dtype0*
shape:

AddAddab*
T0

yIdentityAdd*
T0"ª