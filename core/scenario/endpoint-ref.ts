/**
 * Endpoint references typed by a user in a filter (the CLI's `events --endpoint`, the UI's
 * endpoint filter): a device name, a PCI address or a raw endpoint ID, resolved against the
 * scenario's declared devices. Pure; no I/O.
 *
 * The three forms cannot be confused: a device name starts with a letter or `_` and has no `:`
 * (ScenarioSchema's devices[].name pattern), a PCI address is "bb:dd.f", and a number starts with a
 * digit. An endpoint ID of a PCI device is its requester ID, bus << 8 | device << 3 | function
 * (virtio spec §5.13.6: "endpoint" is the requester ID for PCI; QEMU pci_requester_id).
 */
import { bdfToString, parseBdf } from '../events/format.ts';

/** A declared device as the resolver needs it (ScenarioDevice fits). */
export interface EndpointDevice {
  readonly name: string;
  /** Endpoint ID (requester ID). */
  readonly endpoint: number;
}

/**
 * Result of resolveEndpointRef: the endpoint ID (u32) with the declared device that has it, if
 * any; or a problem with a one-line message naming the text and the accepted forms.
 */
export type EndpointRef = { ok: true; endpoint: number; device: EndpointDevice | null } | { ok: false; message: string };

const U32_MAX = 0xffffffff;

/**
 * Resolves `text` (surrounding spaces ignored) to an endpoint ID:
 * - a declared device name, exactly as written in `devices` (case-sensitive, like the scenario);
 * - a PCI address "bb:dd.f" (hex bus 00-ff, device 00-1f, function 0-7; case-insensitive);
 * - a raw endpoint ID, decimal or 0x-prefixed hex, 0 … 0xffffffff (the request's le32 field).
 * Addresses and IDs need not be declared (the spec's error cases use undeclared endpoints); the
 * matching device, when one is declared, is returned beside the ID.
 * Problems (never thrown): empty text, an unknown name (the message lists the declared names), an
 * ID above u32, anything else.
 */
export function resolveEndpointRef(text: string, devices: readonly EndpointDevice[]): EndpointRef {
  const s = text.trim();
  const byId = (endpoint: number): EndpointRef => ({ ok: true, endpoint, device: devices.find((d) => d.endpoint === endpoint) ?? null });
  if (s === '') return { ok: false, message: 'endpoint is empty: write a device name, a PCI address "bb:dd.f" or an endpoint ID' };
  const named = devices.find((d) => d.name === s);
  if (named) return { ok: true, endpoint: named.endpoint, device: named };
  const bdf = parseBdf(s);
  if (bdf !== null) return byId(bdf);
  if (/^(0x[0-9a-f]+|[0-9]+)$/i.test(s)) {
    const n = BigInt(s);
    if (n > BigInt(U32_MAX)) return { ok: false, message: `endpoint ID ${s} is above 0xffffffff (endpoint IDs are u32)` };
    return byId(Number(n));
  }
  const names = devices.map((d) => `${d.name} (${bdfToString(d.endpoint)})`);
  const known = names.length ? `devices: ${names.join(', ')}` : 'the scenario declares no devices';
  if (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s)) {
    const folded = devices.find((d) => d.name.toLowerCase() === s.toLowerCase());
    const hint = folded ? ` (names are case-sensitive: did you mean "${folded.name}"?)` : '';
    return { ok: false, message: `unknown endpoint "${s}"${hint}; ${known}, or write a PCI address "bb:dd.f" or an endpoint ID` };
  }
  return { ok: false, message: `"${s}" is not an endpoint: write a device name (${known}), a PCI address "bb:dd.f" or an endpoint ID` };
}
