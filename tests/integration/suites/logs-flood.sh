# The run stage of logs-flood.yaml: {{ lines }} lines in 100 chunks, a short
# pause between chunks, so that printing lasts a few seconds.
n={{ lines }}
chunk=$((n / 100))
c=0
while [ $c -lt 100 ]; do
  seq $((c * chunk + 1)) $(((c + 1) * chunk)) | sed "s/^/flood $TSC_NODE /"
  [ $c -eq 0 ] && touch {{ dir }}/started."$TSC_NODE"
  c=$((c + 1))
  sleep 0.02
done
