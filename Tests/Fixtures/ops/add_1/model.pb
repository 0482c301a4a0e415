
:
aPlaceholder*
dtype0*
shape:
.
bPlaceholder*
dtype0*
shape:

AddAddV2ab*
T0

yIdentityAdd*
T0"ª