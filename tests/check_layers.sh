#!/usr/bin/env bash
# check_layers.sh LIB DESIGN_MD — the library keeps to the layering that
# docs/design.md writes down (its ```layers block): a module (gc/NAME.c,
# an object NAME.c.o in the static library LIB) calls only modules on
# earlier lines of the block, except for the calls up the layers the
# block lists ("up A -> B"), each of which must still exist.  Calls are
# read from the objects' symbol tables (nm): a function or variable of
# the library that module A uses and module B defines.
set -euo pipefail
lib=$1 design=$2
fail=0
spec=$(awk '/^```layers$/ {on = 1; next} on && /^```$/ {exit} on' "$design")
[[ -n $spec ]] || { echo "check_layers: no \`\`\`layers block in $design" >&2; exit 1; }

# module:module pairs, one per line, A uses B.
edges=$(nm -A "$lib" | awk '
    { split($1, loc, ":"); mod = loc[2]; sub(/\.c\.o$/, "", mod)
      type = $(NF - 1); sym = $NF }
    type == "U" { use[mod, sym] = 1; mods[mod] = 1; next }
    type ~ /^[TDBRC]$/ && sym ~ /^tci?_/ { def[sym] = mod; mods[mod] = 1 }
    END {
        for (k in use) {
            split(k, p, SUBSEP)
            if ((p[2] in def) && def[p[2]] != p[1]) pair[p[1] ":" def[p[2]]] = 1
        }
        for (m in mods) print "module:" m
        for (e in pair) print e
    }' | sort -u)

declare -A rank allowed
n=0
while read -r line; do
    line=${line%%#*}
    read -r -a w <<<"$line"
    ((${#w[@]})) || continue
    if [[ ${w[0]} == up ]]; then
        [[ ${#w[@]} -ge 4 && ${w[2]} == "->" ]] || { echo "check_layers: bad line: $line" >&2; exit 1; }
        allowed[${w[1]}:${w[3]}]=1
    else
        for m in "${w[@]}"; do rank[$m]=$n; done
        n=$((n + 1))
    fi
done <<<"$spec"

declare -A seen
while read -r e; do
    if [[ $e == module:* ]]; then
        m=${e#module:}
        [[ -n ${rank[$m]:-} ]] || { echo "check_layers: module $m is in no layer of design.md"; fail=1; }
        continue
    fi
    a=${e%%:*} b=${e#*:}
    [[ -n ${rank[$a]:-} && -n ${rank[$b]:-} ]] || continue
    if ((rank[$b] >= rank[$a])); then
        seen[$e]=1
        [[ -n ${allowed[$e]:-} ]] ||
            { echo "check_layers: $a calls $b, a layer up, and design.md does not list it"; fail=1; }
    fi
done <<<"$edges"
for e in "${!allowed[@]}"; do
    [[ -n ${seen[$e]:-} ]] ||
        { echo "check_layers: design.md lists ${e/:/ -> } as a call up the layers, and there is none"; fail=1; }
done
((fail == 0)) && echo "check_layers: $(grep -vc '^module:' <<<"$edges") calls between modules keep to design.md's layers"
exit $fail
