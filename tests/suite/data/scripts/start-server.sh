#!/bin/sh
# Started by case write-then-read on every server.
set -e
redis-server --port {{ port }} --daemonize yes
echo "{{ tsc.open }} started on {{ tsc.name }}"
