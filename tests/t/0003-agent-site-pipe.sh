#!/bin/bash
# 0003-agent-site-pipe: a site's whole life (image load, apply, replace,
# logs, stop/start, failed health, killed agent, remove) with tug-agent
# driven over a pipe against the real Docker engine.

. "$(dirname "$0")/../lib.sh"
. "$TESTS_DIR/agent-flow.sh"
bed_dockerd || bail "no dockerd"
bed_images "$T/fixtures" >/dev/null || bail "cannot build the test images"
RUN=("$AGENT" serve --state-dir "$T/state")
agent_flow t3pipe
finish
