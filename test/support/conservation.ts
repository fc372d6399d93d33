// The conservation promise as a checker: for every item, initial stock + restocks − amounts of committed orders
// = current stock, and no stock is below zero. Returns the anomalies found (empty when the promise holds).
export interface ItemLedger {
  readonly item: number;
  readonly initialStock: number;
  readonly restocked: number;
  readonly committedAmounts: readonly number[];
  readonly stock: number;
}

export function conservationAnomalies(ledgers: readonly ItemLedger[]): string[] {
  const anomalies: string[] = [];
  for (const ledger of ledgers) {
    const sold = ledger.committedAmounts.reduce((sum, amount) => sum + amount, 0);
    const expected = ledger.initialStock + ledger.restocked - sold;
    if (ledger.stock !== expected) {
      anomalies.push(`item ${ledger.item}: stock ${ledger.stock}, but ${ledger.initialStock} + ${ledger.restocked} − ${sold} = ${expected}`);
    }
    if (ledger.stock < 0) anomalies.push(`item ${ledger.item}: stock ${ledger.stock} is below zero (oversold)`);
  }
  return anomalies;
}
