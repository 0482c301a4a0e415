
:
aPlaceholder*
dtype0*
shape:
.
bPlaceholder*
dtype0*
shape:

AddAddab*
T0

yIdentityAdd*
T0"ª