#!/usr/bin/env bash
# Print the path of a working Python 3.13 interpreter (the Lambda runtime's version), or explain and fail.
set -u
works() { [ -n "$1" ] && "$1" -c 'import sys, venv; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; }
candidates=("${PYTHON313:-}" "$(command -v python3.13 2>/dev/null)")
if command -v pyenv >/dev/null 2>&1; then
  candidates+=("$(pyenv root)"/versions/3.13*/bin/python3.13)
fi
candidates+=(/usr/local/bin/python3.13 /usr/bin/python3.13)
for candidate in "${candidates[@]}"; do
  works "$candidate" && { echo "$candidate"; exit 0; }
done
echo "Python 3.13 not found: install it (e.g. 'pyenv install 3.13') or set PYTHON313=/path/to/python3.13" >&2
exit 1
