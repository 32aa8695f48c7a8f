#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# meson install script (data/meson.build): installs the sample
# configuration $2 as $1/munity/munityd.conf only when there is none yet.
# install_data() would overwrite the operator's file on every reinstall or
# upgrade. Under DESTDIR (a package build) the directory starts empty, so
# the file is always installed there.
set -eu

dest="${DESTDIR:-}$1/munity/munityd.conf"
if [ -e "$dest" ]; then
  echo "Keeping $dest (the sample is $2)"
else
  install -D -m 0644 "$2" "$dest"
  echo "Installing $2 to $dest"
fi
