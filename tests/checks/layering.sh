#!/usr/bin/env bash
# layering.sh - the kernel and host (core/*.c, core/*.h) include no
# transport header and reference no transport or simulation symbol; and
# nothing outside tests, the dev host and the simulator refers to the
# dev-only `local` handler unit.
set -u
cd "$(dirname "$0")/../.."
status=0

bad_includes=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](librdkafka/|rdkafka|libpq|postgresql/|curl/|sqlite3)' core/*.c core/*.h 2>/dev/null)
if [ -n "$bad_includes" ]; then
	echo "kernel files include transport headers:"
	echo "$bad_includes"
	status=1
fi

objdir=build/${ONEX_CONFIG:-release}/obj/core
if ls "$objdir"/*.o >/dev/null 2>&1; then
	bad_syms=$(nm -u "$objdir"/*.o | grep -E ' (rd_kafka_|PQ|curl_|sqlite3_|onex_sim_|onex_fake_|onex_sqlite_)' | sort -u)
	if [ -n "$bad_syms" ]; then
		echo "kernel objects reference transport or simulation symbols:"
		echo "$bad_syms"
		status=1
	fi
else
	echo "no kernel objects in $objdir: build first"
	status=1
fi

# The local handler: only its own unit, the dev host root, the simulator and tests.
refs=$(grep -rlE 'onex_local_handler_unit|local_handler\.h' core sim 2>/dev/null |
	grep -vE '^core/units/local_handler\.[ch]$|^core/roots/onex_host_dev\.c$|^sim/' )
if [ -n "$refs" ]; then
	echo "these files refer to the dev-only local handler:"
	echo "$refs"
	status=1
fi
if nm "${ONEX_BIN:-build/bin}/onex-host" 2>/dev/null | grep -q onex_local_handler_unit; then
	echo "onex-host links the local handler"
	status=1
fi
[ $status -eq 0 ] && echo "layering ok: no transport headers or symbols in the kernel; local handler only in dev host, sim and tests"
exit $status
