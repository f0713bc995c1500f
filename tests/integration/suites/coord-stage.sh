# One stage of kill-coordinator.yaml.
printf '%s %s %s\n' "$TSC_RUN" "$TSC_STAGE_INDEX" "$TSC_NODE" >> {{ dir }}/lines."$TSC_NODE"
sleep 0.5
