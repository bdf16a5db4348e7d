#!/usr/bin/env bash
# Renders the demo workbook (internal/report's realistic sample run) and turns
# every sheet into a PNG under out/preview/ named for it (1-Summary.png ...
# 5-Coverage.png, whatever sheets the workbook has), to eyeball the format
# the way a reader sees it. Needs LibreOffice Calc and poppler's pdftoppm; installs the
# Debian packages when they are missing (root, Debian/Ubuntu). Not part of
# `make test`: it needs apt and takes a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PREVIEW_OUT:-out/preview}

need=()
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
if ((${#need[@]})); then
	echo "installing ${need[*]}" >&2
	if [[ $(id -u) -ne 0 ]]; then
		echo "preview: ${need[*]} missing and not root; install them first" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

rm -rf "$OUT" && mkdir -p "$OUT"
abs_out=$(cd "$OUT" && pwd)
go test -count=1 -run '^TestPreviewWorkbook$' ./internal/report -preview-out "$abs_out" >/dev/null
xlsx=$(ls "$abs_out"/*.xlsx)

# One page per sheet (SinglePageSheets, LibreOffice >= 7.4 JSON filter
# options), so a wide table is not cut into column strips. A private profile
# directory keeps a concurrent or root-owned LibreOffice from interfering.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
timeout 180 soffice -env:UserInstallation="file://$profile" --headless --norestore \
	--convert-to 'pdf:calc_pdf_Export:{"SinglePageSheets":{"type":"boolean","value":"true"}}' \
	--outdir "$abs_out" "$xlsx" >/dev/null
pdf=${xlsx%.xlsx}.pdf

# Every sheet, one page each, named for its sheet (<n>-<Name>.png, spaces as
# '-'): LibreOffice leaves out a sheet it finds nothing to print on, so a
# page count short of the sheet count is an error, not a shorter preview.
mapfile -t sheets < <(/usr/bin/python3 -c '
import re, sys, zipfile
wb = zipfile.ZipFile(sys.argv[1]).read("xl/workbook.xml").decode()
for name in re.findall(r"<sheet [^>]*name=\"([^\"]+)\"", wb):
    print(name.replace("&amp;", "&"))
' "$xlsx")
pages=$(pdfinfo "$pdf" | awk '/^Pages:/ {print $2}')
if [[ $pages -ne ${#sheets[@]} ]]; then
	echo "preview: $pdf has $pages pages for ${#sheets[@]} sheets (${sheets[*]})" >&2
	exit 1
fi
for i in "${!sheets[@]}"; do
	n=$((i + 1))
	pdftoppm -png -r 70 -f "$n" -l "$n" -singlefile "$pdf" "$abs_out/$n-${sheets[$i]// /-}"
done
ls -1 "$abs_out"
