# One stage of order.yaml. Each line is one short printf to a file opened with
# O_APPEND: one write(2), so lines of concurrent machines do not mix.
printf '%s %s start %s\n' "$TSC_STAGE_INDEX" "$TSC_NODE" "$(date +%s%N)" >> {{ log }}
ms=$(( $(od -An -N1 -tu1 /dev/urandom) % 50 ))
sleep "$(printf '0.%03d' "$ms")"
printf '%s %s end %s\n' "$TSC_STAGE_INDEX" "$TSC_NODE" "$(date +%s%N)" >> {{ log }}
