#!/usr/bin/env bash
# The console at the desk, as issue 25's acceptance item 3 asks to see it: tmux captures at
# 80x24 and 120x40 of the main screen (the experiments pane with its `12/30` counts, two
# experiments of one name told apart by their ids), the focused pane against the others
# (with colours, as a 256-colour terminal shows them), the help screen and the compare
# screen with `w` (difference, CI and p).
#
#   tools/desk_captures.sh [OUT]      (default OUT: captures/; never committed)
#
# It builds its own small store with the real `embtui demo` (the bundled reviews, offline):
# a 30-run grid stopped after 12 runs are done, then a finished demo of the same name.
# EMBTUI may name the command (default: embtui on $PATH); KEEP_STORE=1 captures again on the
# store an earlier call built.
set -euo pipefail

OUT=${1:-captures}
EMBTUI=${EMBTUI:-embtui}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
[ -e "$OUT/.gitignore" ] || echo '*' >"$OUT/.gitignore"  # captures stay out of git
OUT=$(cd "$OUT" && pwd)
STORE="$OUT/store.sqlite"
SOCKET=embtui-desk-$$

done_runs() {
    "$PYTHON" -c 'import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(db.execute("select count(*) from runs where status = ?", ("done",)).fetchone()[0])' "$STORE" 2>/dev/null || echo 0
}

if [ -n "${KEEP_STORE:-}" ] && [ -e "$STORE" ]; then  # captures again, on the same store
    echo "keeping $STORE"
else
rm -rf "$STORE" "$STORE"-* "$STORE".*
# 1. A 30-run grid (5 sizes x 2 arms x 3 seeds), stopped by Ctrl-C once 12 runs are done.
$EMBTUI demo --store "$STORE" --sizes 100,200,300,400,500 --seeds 3 --epochs 1 --plain \
    >"$OUT/grid-30.stdout" 2>"$OUT/grid-30.stderr" &
grid=$!
until [ "$(done_runs)" -ge 12 ]; do
    kill -0 "$grid" 2>/dev/null || break
    sleep 0.05
done
kill -INT "$grid" 2>/dev/null || true
wait "$grid" || true

# 2. A finished demo with the same name: embtui warns, allows it, and shows both ids.
$EMBTUI demo --store "$STORE" --sizes 100,500 --seeds 3 --epochs 3 --plain \
    >"$OUT/demo.stdout" 2>"$OUT/demo.stderr"
$EMBTUI list --store "$STORE" >"$OUT/list.txt"
fi

tmux_() { tmux -L "$SOCKET" -f /dev/null "$@"; }

capture() {  # NAME: the screen as text, and with its colours (-e)
    sleep "${2:-1.5}"
    tmux_ capture-pane -t desk -p >"$OUT/$1.txt"
    tmux_ capture-pane -t desk -p -e >"$OUT/$1.ansi"
}

for size in 80x24 120x40; do
    cols=${size%x*}
    rows=${size#*x}
    # A 256-colour terminal, as tmux's usual TERM gives (no truecolor announced).
    tmux_ new-session -d -s desk -x "$cols" -y "$rows" -c "$OUT" \
        "env -u COLORTERM TERM=tmux-256color $EMBTUI --store '$STORE'"
    tmux_ set-option -t desk status off >/dev/null
    capture "main-$size" 4  # the runs pane has the focus
    tmux_ send-keys -t desk Tab
    capture "focus-epochs-$size"
    tmux_ send-keys -t desk Tab
    capture "focus-charts-$size"
    tmux_ send-keys -t desk '?'
    capture "help-$size"
    tmux_ send-keys -t desk Escape
    sleep 0.5
    tmux_ send-keys -t desk c
    capture "compare-$size" 3
    tmux_ send-keys -t desk w
    capture "compare-w-$size" 2
    tmux_ send-keys -t desk Escape
    sleep 0.5
    tmux_ send-keys -t desk e
    capture "export-dialog-$size" 2
    tmux_ send-keys -t desk Enter  # writes the Markdown into $OUT; a notification says so
    for _ in $(seq 100); do  # the notification shows for a few seconds once it is written
        tmux_ capture-pane -t desk -p | grep -q exported && break
        sleep 0.1
    done
    capture "export-toast-$size" 0.2
    tmux_ send-keys -t desk q
    sleep 1
    tmux_ kill-server 2>/dev/null || true
done
ls "$OUT"
