# make demo: the whole job in one process against awssim's demo organisation
# (220 accounts, 2 regions, 3 denied accounts, 4 failing regions, 3 accounts
# without the opt-in region, 4 regions whose Config recorder is missing or
# stopped, owner tags, 20 ms per call). The workbook's path is the last line; awssim's arguments are kept in
# out/demo/awssim.args so anyone can check the report against the same org.
.PHONY: demo
demo:
	go build -o bin/ ./cmd/awssim ./cmd/local
	scripts/demo.sh
