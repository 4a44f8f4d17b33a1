# Wraps clap's help text at `width` columns (awk -v width=N), for the manual page that
# scripts/build-deb.sh makes. A continuation line is indented to where the text after an
# option's name begins, so the descriptions stay in their column.
{
    line = $0
    if (length(line) <= width) { print line; next }
    match(line, /^ */); lead = RLENGTH
    hang = lead
    # An option or argument line: the run of spaces after its name is kept as it was.
    if (match(line, /^ +[-<][^ ]*( [^ ]+)*  +/)) hang = RLENGTH
    pad = sprintf("%" hang "s", "")
    out = substr(line, 1, hang)
    n = split(substr(line, hang + 1), words, " ")
    col = length(out); first = 1
    for (i = 1; i <= n; i++) {
        w = words[i]
        if (!first && col + 1 + length(w) > width) { print out; out = pad w; col = length(out); continue }
        if (first) { out = out w; first = 0 } else { out = out " " w }
        col = length(out)
    }
    print out
}
