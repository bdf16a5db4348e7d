# make demo: the whole job in one process against awssim's demo organisation
# (220 accounts, 2 regions, 3 denied accounts, 4 failing regions, 3 accounts
# without the opt-in region, 4 regions whose Config recorder is missing or
# stopped, owner tags, 20 ms per call), twice: week 1, then the same org a
# week later (awssim restarted with -week 2) into the same folder, so the
# second workbook's Changes sheet lists what is NEW and RESOLVED since week 1.
# The second workbook's path is the last line; awssim's arguments are kept in
# out/demo/awssim.week1.args and out/demo/awssim.args (week 2, the printed
# workbook's org) so anyone can check the reports against the same org.
.PHONY: demo
demo:
	go build -o bin/ ./cmd/awssim ./cmd/local
	scripts/demo.sh
