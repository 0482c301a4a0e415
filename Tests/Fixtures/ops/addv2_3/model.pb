
:
aPlaceholder*
dtype0*
shape:
:
bPlaceholder*
dtype0*
shape:

AddV2AddV2ab*
T0

yIdentityAddV2*
T0"ª