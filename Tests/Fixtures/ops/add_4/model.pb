
2
aPlaceholder*
dtype0*
shape
:
6
bPlaceholder*
dtype0*
shape:

AddAddV2ab*
T0

yIdentityAdd*
T0"ª