// Placeholder until the decoder benchmark lands: decodes one row and prints it.
import PendingDecoder

let row = try PendingRow(decoding: #""aid"='1' "bid"='1' "abalance"='0' "filler"= "#)
print(row.columns)
