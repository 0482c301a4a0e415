
6
xPlaceholder*
dtype0*
shape:
>
ConstConst*
dtype0*!
valueB"ný8¿×¾K¿ÛTM¿

AddAddConstx*
T0

yIdentityAdd*
T0"ª