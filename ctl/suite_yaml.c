/* placeholder: being written */
int tsc__placeholder_suite_yaml;
