redis-cli -p {{ port }} shutdown nosave || true
