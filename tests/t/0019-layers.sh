#!/bin/bash
# 0019-layers: the controller keeps its layers (docs/architecture.md): no
# two files call each other, nothing uses tugd.c, ops use neither another
# op, nor the transport, nor the socket. tests/tools/layers.sh reads the
# build's objects; planted breaches show that it sees each kind.

. "$(dirname "$0")/../lib.sh"

LAYERS=$TESTS_DIR/tools/layers.sh

step 'the controller objects of this build keep their layers' '
	bash "$LAYERS" "$TUG_BUILD" >$T/out 2>&1 || { cat $T/out; false; }
'

# plant DIR FILE.c SOURCE: one object of a fake controller tree.
plant() {
	mkdir -p "$(dirname "$1/$2")" &&
	printf "%s\n" "$3" >"$1/${2%.o}.c" &&
	cc -c -o "$1/$2" "$1/${2%.o}.c"
}

step 'planted breaches are each named, and the check fails' '
	P=$T/planted &&
	plant $P controller/a.o "int b(void); int a(void) { return b(); }" &&
	plant $P controller/b.o "int a(void); int b(void) { return a() + 1; }" &&
	plant $P controller/tugd.o "int daemon_thing(void) { return 0; } int main(void) { return 0; }" &&
	plant $P controller/cmd-x.o "int daemon_thing(void); int y(void); int conn_write(void); int x(void) { return daemon_thing() + y() + conn_write(); }" &&
	plant $P controller/cmd-y.o "int y(void) { return 1; }" &&
	! bash "$LAYERS" $P $P >$T/out 2>&1 &&
	cat $T/out &&
	grep -qx "controller/a.c and controller/b.c call each other (controller/a.c: b, controller/b.c: a)" $T/out &&
	grep -qx "controller/cmd-x.c uses daemon_thing of tugd.c" $T/out &&
	grep -qx "controller/cmd-x.c uses y of controller/cmd-y.c: ops do not call ops or the transport" $T/out &&
	grep -qx "controller/cmd-x.c uses conn_write: an op answers through its request" $T/out &&
	test $(wc -l <$T/out) -eq 4
'

finish
