/* placeholder: being written */
int tsc__placeholder_logsync_merge;
