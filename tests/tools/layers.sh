#!/bin/bash
# layers.sh OBJDIR [SRCDIR]: check the controller's layering on its object files
# (docs/architecture.md). Reads defined and undefined symbols with nm and
# prints one line per breach; exits 1 if there is any.
#   - no two controller files call each other;
#   - no file uses a symbol defined in tugd.c (the daemon's main file);
#   - an op (cmd-*.c) uses nothing of another op nor of the transport
#     (client.c), and never writes or reads the socket (conn_*) itself.
set -u
dir=${1:?usage: layers.sh OBJDIR [SRCDIR]}
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
declare -A def
declare -A edge
bad=0
# Objects of sources that still exist: a build dir may hold stale ones.
objs=$(cd "$dir" && find controller -name '*.o' | sort | while read -r o; do
	[ -f "$src/${o%.o}.c" ] && echo "$o"; done)
[ -n "$objs" ] || { echo "no objects under $dir/controller"; exit 1; }
for o in $objs; do
	f=${o%.o}.c
	while read -r s; do
		def[$s]=$f
	done < <(nm -g --defined-only "$dir/$o" | awk 'NF == 3 { print $3 }')
done
for o in $objs; do
	f=${o%.o}.c
	while read -r s; do
		d=${def[$s]:-}
		if [ -z "$d" ]; then
			case $f:$s in
			controller/cmd-*:conn_*)
				echo "$f uses $s: an op answers through its request"
				bad=1 ;;
			esac
			continue
		fi
		[ "$d" = "$f" ] && continue
		edge[$f $d]=$s
		case $f:$d in
		*:controller/tugd.c)
			echo "$f uses $s of tugd.c"; bad=1 ;;
		controller/cmd-*:controller/cmd-*|controller/cmd-*:controller/client.c)
			echo "$f uses $s of $d: ops do not call ops or the transport"
			bad=1 ;;
		esac
	done < <(nm -u "$dir/$o" | awk '{ print $NF }')
done
for k in "${!edge[@]}"; do
	a=${k% *} b=${k#* }
	if [[ $a < $b ]] && [ -n "${edge[$b $a]:-}" ]; then
		echo "$a and $b call each other ($a: ${edge[$k]}, $b: ${edge[$b $a]})"
		bad=1
	fi
done
exit $bad
