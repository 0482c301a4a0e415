
6
aPlaceholder*
dtype0*
shape:
6
bPlaceholder*
dtype0*
shape:
'
AddNAddNaba*
N*
T0

yIdentityAddN*
T0"ª