#!/usr/bin/env node
// iommu-lab command line: checks the Node.js version, registers tsx (the lab runs from its
// TypeScript sources), then hands over to main/cli/index.ts. Plain JS on purpose: it must run,
// and explain itself, on any Node version.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `iommu-lab needs Node.js >= 22.12 (24 LTS recommended); this is Node.js ${process.versions.node}.\n` +
      'With an older Node, better-sqlite3 and the ESM loader the lab relies on do not work. Install a newer Node (e.g. `nvm install 24`).\n',
  );
  process.exit(2);
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('./index.ts');
process.exitCode = await main(process.argv);
