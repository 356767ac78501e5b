# lib.awk — awk helpers shared by bench/run and bench/curves (prefixed to
# their awk programs as $AWK_LIB).
function field(line, key,    i, n, parts, kv) {
    gsub(/[{}]/, "", line)
    n = split(line, parts, ",")
    for (i = 1; i <= n; i++) {
        split(parts[i], kv, ":")
        gsub(/"/, "", kv[1]); gsub(/"/, "", kv[2])
        if (kv[1] == key) return kv[2]
    }
    return ""
}
function sortv(v, n,    i, j, x) {
    for (i = 2; i <= n; i++) {
        x = v[i]
        for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]
        v[j + 1] = x
    }
}
