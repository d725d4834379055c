/**
 * The README's "Scenario format" reference, generated from the schema's descriptions (schema.ts),
 * so the documentation cannot drift from the validator. A test compares it with README.md.
 */
import { Kind, OptionalKind, type TSchema } from '@sinclair/typebox';
import { literalValues } from './kinds.ts';
import { IntelIommuSchema, STEP_ARGS, STEP_EXPECT, STEP_OPS, ScenarioSchema, ViommuSchema, type StepOp } from './schema.ts';
import { HostSchema, IOMMUFD_OUTPUTS, VFIO_OUTPUTS } from './host-schema.ts';
import { GuestSchema } from './guest-schema.ts';
import { MAX_ALIASES, MAX_ALIAS_NODES, MAX_DEPTH, MAX_DIAGNOSTICS, MAX_STEPS, MAX_TEXT_LENGTH } from './limits.ts';
import { MAX_VARIANTS, MAX_VARIANT_STEPS } from './variants.ts';

const n = (x: number): string => x.toLocaleString('en-US');

const esc = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** Short type text of a schema node: `u64`, `u32`, `q35 \| virt`, `list of …`, `map`. */
function typeText(schema: TSchema): string {
  const lits = literalValues(schema);
  if (lits) return lits.map((l) => `\`${String(l)}\``).join(' \\| ');
  switch (schema[Kind]) {
    case 'Object':
      return 'map';
    case 'Array':
      return `list of ${typeText(schema.items as TSchema)}`;
    case 'Tuple':
      return `[${(schema.items as TSchema[]).map(typeText).join(', ')}]`;
    case 'String':
      return 'string';
    case 'Boolean':
      return 'boolean';
    case 'U64':
      return 'u64';
    case 'UInt':
      return schema.minimum === 0 && schema.maximum === 0xffffffff ? 'u32' : `integer ${schema.minimum}–${schema.maximum}`;
    case 'Union':
      return [...new Set((schema.anyOf as TSchema[]).map(typeText))].join(' or ');
    default:
      return 'value';
  }
}

function defaultText(schema: TSchema): string {
  if (schema[OptionalKind] !== 'Optional') return 'required';
  if (schema.default === undefined) return '—';
  const d = schema.default;
  if (Array.isArray(d)) return d.length ? `\`[${d.join(', ')}]\`` : '`[]`';
  return `\`${String(d)}\``;
}

function table(obj: TSchema, prefix = ''): string {
  const rows = Object.entries(obj.properties as Record<string, TSchema>).map(
    ([k, p]) => `| \`${prefix}${k}\` | ${typeText(p)} | ${defaultText(p)} | ${esc(String(p.description ?? ''))} |`,
  );
  return ['| Key | Type | Default | Description |', '|---|---|---|---|', ...rows].join('\n');
}

/** The sub-sections of a step whose body is a union told apart by `op` (iommufd, vfio): one table per op, with its outputs. */
function opSections(op: StepOp, args: TSchema): string[] {
  const outputs: Readonly<Record<string, Readonly<Record<string, TSchema>>>> = op === 'iommufd' ? IOMMUFD_OUTPUTS : VFIO_OUTPUTS;
  return (args.anyOf as TSchema[]).flatMap((v) => {
    const props = v.properties as Record<string, TSchema>;
    const name = String(props.op.const);
    const { op: _op, ...rest } = props;
    const outs = Object.keys(outputs[name] ?? {});
    return [
      `##### \`${op}: {op: ${name}}\``,
      '',
      String(v.description ?? ''),
      '',
      ...(Object.keys(rest).length ? [table({ ...v, properties: rest } as TSchema), ''] : []),
      `Outputs (\`expect\` keys besides \`errno\`): ${outs.length ? outs.map((o) => `\`${o}\``).join(', ') : 'none'}.`,
      '',
    ];
  });
}

function stepSection(op: StepOp): string {
  const args = STEP_ARGS[op] as TSchema;
  const expect = STEP_EXPECT[op] as TSchema;
  const out = [`#### \`${op}\``, '', String(args.description ?? ''), ''];
  if (args.discriminator === 'op') {
    out.push(...opSections(op, args));
    out.push(`\`expect\`: ${String(expect.description ?? '')}`);
    return out.join('\n');
  }
  if (args[Kind] === 'Object') {
    if (Object.keys(args.properties).length) out.push(table(args), '');
  } else {
    out.push(`Value: ${typeText(args)}.`, '');
  }
  out.push(`\`expect\`: ${String(expect.description ?? '')}`);
  if (expect[Kind] === 'Object' && Object.keys(expect.properties as object).length) out.push('', table(expect));
  return out.join('\n');
}

/**
 * Markdown for the README's scenario format reference: one table per section (top level,
 * `viommu`, `viommu.offer`, `driver`, `devices`), then one subsection per step operation with its
 * keys and its `expect` shape, then the limits (limits.ts) and how a run counts progress.
 * Deterministic (same schema → same text). Starts with "## Scenario format".
 */
export function scenarioReferenceMarkdown(): string {
  const top = ScenarioSchema as TSchema;
  const props = top.properties as Record<string, TSchema>;
  const viommu = ViommuSchema as TSchema;
  const intel = IntelIommuSchema as TSchema;
  const offer = (viommu.properties as Record<string, TSchema>).offer;
  const host = HostSchema as TSchema;
  const hostIommu = ((host.properties as Record<string, TSchema>).iommus as TSchema).items as TSchema;
  const hostDevice = ((host.properties as Record<string, TSchema>).devices as TSchema).items as TSchema;
  const driver = props.driver;
  const guest = GuestSchema as TSchema;
  const pciWindow = ((guest.properties as Record<string, TSchema>)['pci-windows'] as TSchema).items as TSchema;
  const device = (props.devices as TSchema).items as TSchema;
  const parts = [
    '## Scenario format',
    '',
    '<!-- Generated by scenarioReferenceMarkdown() in core/scenario/reference.ts from the schema; do not edit by hand. -->',
    '',
    'A scenario is a YAML file. Numbers may be decimal, `0x` hex, or `"0x…"` hex strings; 64-bit values are exact up to `0xffffffffffffffff`. Endpoints are device names from `devices`, PCI addresses `"bb:dd.f"`, or raw endpoint IDs. Problems are reported as `file:line:column: message`.',
    '',
    '### Top level',
    '',
    table(top),
    '',
    '### `viommu`',
    '',
    String(viommu.description ?? ''),
    '',
    table(viommu),
    '',
    '### `viommu.offer`',
    '',
    String(offer.description ?? ''),
    '',
    table(offer),
    '',
    '### `viommu` (intel-iommu)',
    '',
    String(intel.description ?? ''),
    '',
    table(intel),
    '',
    '### `host`',
    '',
    String(host.description ?? ''),
    '',
    '#### `host.iommus[]`',
    '',
    String(hostIommu.description ?? ''),
    '',
    table(hostIommu),
    '',
    '#### `host.devices[]`',
    '',
    String(hostDevice.description ?? ''),
    '',
    table(hostDevice),
    '',
    '### `guest`',
    '',
    String(guest.description ?? ''),
    '',
    table(guest),
    '',
    '#### `guest.pci-windows[]`',
    '',
    String(pciWindow.description ?? ''),
    '',
    table(pciWindow),
    '',
    '### `driver`',
    '',
    String(driver.description ?? ''),
    '',
    table(driver),
    '',
    '### `devices[]`',
    '',
    String(device.description ?? ''),
    '',
    table(device),
    '',
    '### Steps',
    '',
    'Each step is a map with exactly one operation key and an optional `expect`. A failed expectation is recorded (an `expectation` event and the step result) and the run continues.',
    '',
    ...STEP_OPS.flatMap((op) => [stepSection(op), '']),
    '### Limits',
    '',
    'Parsing takes time linear in the text, and a scenario is refused, with an error at the first node past the limit, when it has:',
    '',
    `- more than ${n(MAX_TEXT_LENGTH / 1048576)} MiB of text (${n(MAX_TEXT_LENGTH)} characters);`,
    `- more than ${n(MAX_STEPS)} steps (a \`workload\` step runs up to 10,000,000 iterations);`,
    `- more than ${n(MAX_ALIASES)} YAML aliases (\`*name\`), or aliases that add more than ${n(MAX_ALIAS_NODES)} nodes once expanded, or an alias inside the node it refers to;`,
    `- maps and lists nested more than ${MAX_DEPTH} levels deep;`,
    `- more than ${MAX_VARIANTS} \`variants\`, or more than ${n(MAX_VARIANT_STEPS)} steps over all variants (each variant's document is checked on its own);`,
    '- a key twice in one map.',
    '',
    `At most ${n(MAX_DIAGNOSTICS)} problems are listed; one more says how many were left out.`,
    '',
    '### Progress',
    '',
    "A run's progress counts work units: one per step, except one per granule page of a `dma` step's access (its pages are decided one by one, each with its `translate` event), and, for a `workload`, `count` × the pages one iteration's DMA can span (1 without `dma`). Any step, however large, advances in slices: progress moves and Cancel stops it. A `dma` step that faults ends there and counts as done.",
  ];
  return parts.join('\n').trimEnd() + '\n';
}
