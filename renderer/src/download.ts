/**
 * Saving text as a file in the browser (serve): a Blob URL behind a temporary `<a download>`, the
 * URL revoked a second later. Used by Save of a scenario, the comparison's CSV / JSON export and
 * the SQL console's CSV export (the desktop app writes files through the contract instead).
 */
export function downloadText(content: string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
