#!/bin/sh
echo {{ port }}
  echo {{tsc.name}} {{ host }}
