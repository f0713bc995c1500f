/* placeholder: being written */
int tsc__placeholder_view;
