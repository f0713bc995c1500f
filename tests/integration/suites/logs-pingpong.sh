# One stage of logs-pingpong.yaml (and of logs-flood.yaml's quiet stages).
ctl={{ ctl }}
for i in 1 2 3; do
  echo "line $i of stage $TSC_STAGE_INDEX on $TSC_NODE"
  echo "err $i of stage $TSC_STAGE_INDEX on $TSC_NODE" >&2
done
"$ctl" log "user event of stage $TSC_STAGE_INDEX on $TSC_NODE"
echo "app $TSC_STAGE_INDEX on $TSC_NODE" >>app.log
if [ "$TSC_STAGE" = run ] && [ "$TSC_NODE" = node1 ]; then
  mv app.log app.log.1 && echo "after rotation on $TSC_NODE" >>app.log
fi
if [ "$TSC_STAGE" = run ]; then
  # A line longer than a record (64 KiB) arrives in pieces.
  [ "$TSC_NODE" = node3 ] && { head -c 70000 /dev/zero | tr '\0' x; echo; }
  # Nobody sends to node3: its recv waits, then times out.
  if [ "$TSC_NODE" = node3 ] && "$ctl" recv --timeout 1 >/dev/null 2>&1; then
    echo "node3 received a message nobody sent" >&2
    exit 1
  fi
  i=1
  while [ $i -le 20 ]; do
    case $TSC_NODE in
    node1)
      "$ctl" send node2 "ping $i"
      m=$("$ctl" recv --from node2 --timeout 30)
      [ "$m" = "pong $i" ] || { echo "node1 got '$m', want 'pong $i'" >&2; exit 1; }
      ;;
    node2)
      m=$("$ctl" recv --from node1 --timeout 30)
      [ "$m" = "ping $i" ] || { echo "node2 got '$m', want 'ping $i'" >&2; exit 1; }
      "$ctl" send node1 "pong $i"
      ;;
    esac
    i=$((i + 1))
  done
fi
printf 'last line without a newline of stage %s on %s' "$TSC_STAGE_INDEX" "$TSC_NODE"
