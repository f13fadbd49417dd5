#!/bin/bash
# fleet-noop.sh - a no-op job on N hosts: N sshd instances on 127.0.0.1
# (one user, one dockerd), tug host check cold (tugd just started: new SSH
# sessions, agent start, HELLO, ping) and warm (sessions already open),
# beside parallel-ssh and `ansible -m ping` on the same hosts.
#
# Goals (issue 3), N=50 on 2 cores: cold <= 2.3 s, warm <= 100 ms.
# Run: TUG_BUILD=build bash tests/bench/fleet-noop.sh [N]   (root; installs pssh
# and ansible from Debian if missing, BENCH_NO_PEERS=1 skips them)

set -u
. "$(dirname "$0")/../lib.sh"
N=${1:-${FLEET_N:-50}}
BASE=${FLEET_PORT:-22100}
U=tugbench

bed_dockerd >/dev/null || bail "no dockerd"
bed_user $U || bail "cannot create $U"
"$TUG" init >/dev/null 2>&1
"$TUG" key >$T/tugd.pub || bail "tug key"
KEY=$TUG_HOME/id_ed25519

# N private sshds, one port each.
for i in $(seq "$N"); do
	bed_sshd /run/tug-test/bench-sshd-$i $((BASE + i)) $U $T/tugd.pub \
	    >/dev/null || bail "sshd $i"
	at_exit "bed_sshd_stop /run/tug-test/bench-sshd-$i"
done
for i in $(seq "$N"); do
	"$TUG" -q host add b$i $U@127.0.0.1:$((BASE + i)) \
	    --accept-new-hostkey >/dev/null || bail "host add b$i"
done

ms() { date +%s%3N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Cold: a fresh tugd, then the check that has to wait for every session.
cold=()
for r in 1 2 3; do
	tugd_stop
	t0=$(ms)
	"$TUG" host check >$T/cold.$r 2>&1 || { cat $T/cold.$r; bail "cold check failed"; }
	cold+=($(($(ms) - t0)))
done
# Warm: the same check with every session open.
warm=()
for r in $(seq 9); do
	t0=$(ms)
	"$TUG" host check >$T/warm 2>&1 || { cat $T/warm; bail "warm check failed"; }
	warm+=($(($(ms) - t0)))
done
grep -q "^$N of $N hosts reachable" $T/warm || { cat $T/warm; bail "not all reachable"; }

cold_ms=$(printf '%s\n' "${cold[@]}" | median)
warm_ms=$(printf '%s\n' "${warm[@]}" | median)
echo "fleet no-op on $N hosts (127.0.0.1, $(nproc) cores), median wall time"
printf '  %-44s %7s ms   %s\n' "tug host check, cold (tugd just started)" "$cold_ms" "goal <= 2300; runs ${cold[*]}"
printf '  %-44s %7s ms   %s\n' "tug host check, warm (sessions open)" "$warm_ms" "goal <= 100; runs ${warm[*]}"

[ "${BENCH_NO_PEERS:-0}" = 1 ] && exit 0
# Peers on the same hosts, with the same key.
if ! command -v parallel-ssh >/dev/null || ! command -v ansible >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pssh ansible-core \
	    >/dev/null 2>&1 || echo "  (could not install pssh/ansible-core)"
fi
: >$T/hosts
: >$T/inventory
for i in $(seq "$N"); do
	echo "$U@127.0.0.1:$((BASE + i))" >>$T/hosts
	echo "b$i ansible_host=127.0.0.1 ansible_port=$((BASE + i)) ansible_user=$U" >>$T/inventory
done
SSHOPT=(-O StrictHostKeyChecking=no -O UserKnownHostsFile=/dev/null -O LogLevel=ERROR -O IdentitiesOnly=yes)
if command -v parallel-ssh >/dev/null; then
	t0=$(ms)
	parallel-ssh -h $T/hosts -p "$N" -x "-i $KEY" "${SSHOPT[@]}" true >$T/pssh 2>&1
	printf '  %-44s %7s ms   %s\n' "parallel-ssh -p $N true" "$(($(ms) - t0))" \
	    "$(grep -c SUCCESS $T/pssh) of $N ok"
fi
if command -v ansible >/dev/null; then
	cat >$T/ansible.cfg <<EOC
[defaults]
host_key_checking = False
forks = $N
gathering = explicit
interpreter_python = auto_silent
[ssh_connection]
pipelining = True
ssh_args = -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o ControlMaster=no
EOC
	t0=$(ms)
	ANSIBLE_CONFIG=$T/ansible.cfg ansible all -i $T/inventory -m ping \
	    --private-key "$KEY" >$T/ansible 2>&1
	printf '  %-44s %7s ms   %s\n' "ansible -m ping, forks=$N, pipelining" "$(($(ms) - t0))" \
	    "$(grep -c SUCCESS $T/ansible) of $N ok"
fi
