#!/bin/bash
# 0004-agent-site-ssh: the same site life as 0003, but with tug-agent started
# over real OpenSSH as an unprivileged user in the docker group, the way
# tugd runs it: `ssh user@host tug-agent serve`, frames on the channel.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/agent-flow.sh"
bed_dockerd || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"

USER_=tugtest
PORT=${TUG_TEST_SSH_PORT:-2222}
SSHD_DIR=/run/tug-test/sshd-0004
bed_user $USER_ || bail "cannot create $USER_"
bed_keypair "$T/id" || bail "cannot make a key"
# SetEnv proves the agent honours DOCKER_HOST (the same engine, another path).
bed_sshd "$SSHD_DIR" "$PORT" $USER_ "$T/id.pub" \
    "SetEnv DOCKER_HOST=unix:///run/docker.sock" || bail "cannot start sshd"
at_exit "bed_sshd_stop $SSHD_DIR"

# The agent goes where bootstrap will put it: the SSH user's home.
HOME_=$(getent passwd $USER_ | cut -d: -f6)
# The state dir belongs to the first controller that greets it: forget
# one that a run with another controller id left.
rm -f "$HOME_/.tug-agent/controller"
install -d -o $USER_ -m 700 "$HOME_/.tug" &&
install -o $USER_ -m 755 "$AGENT" "$HOME_/.tug/tug-agent-test" ||
	bail "cannot install the agent"
SSH=(ssh -i "$T/id" -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR $USER_@127.0.0.1)
# The remote shell records the agent's pid so a test can kill it for real:
# killing the local ssh only closes the channel, which the agent survives
# long enough to cancel its jobs cleanly.
RUN=("${SSH[@]}" "echo \$\$ >$HOME_/.tug/agent.pid; exec $HOME_/.tug/tug-agent-test serve")
KILL=(-P "$HOME_/.tug/agent.pid")

step 'over ssh: HELLO from an unprivileged agent that reaches Docker' '
	"$AGENTCTL" -r ping "{}" -- "${RUN[@]}" >$T/out &&
	has $T/out "\"socket\":\"/run/docker.sock\",\"version\"" &&
	has $T/out "\"state_dir\":\"$HOME_/.tug-agent\"" &&
	test "$("${SSH[@]}" id -un)" = $USER_
'

step 'over ssh: noise from a login shell before the sentinel is skipped' '
	"$AGENTCTL" -r ping "{}" -- "${SSH[@]}" \
	    "echo motd; echo \"\\x00\\x00garbage\"; exec $HOME_/.tug/tug-agent-test serve" >$T/out &&
	has $T/out "\"type\":\"RESULT\",\"id\":1,\"body\":{\"ok\":true"
'

agent_flow t4ssh

step 'over ssh: the journal lives in the user'"'"'s state dir' '
	test -f "$HOME_/.tug-agent/journal/t4ssh.lock" &&
	test "$(stat -c %U "$HOME_/.tug-agent")" = $USER_
'
finish
