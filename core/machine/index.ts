/**
 * core/machine — the machine of composable parts (DESIGN.md §2): components and their lifecycle,
 * the id-keyed table, the layer interfaces and the DMA access codes.
 */
export { Component, ComponentEmitter, LAYERS, type ComponentSpec, type ComponentState, type Layer, type StampingSink } from './component.ts';
export { Machine } from './machine.ts';
export { isVIommu, type HostIommuDevice, type IovaRange, type VIommu } from './layers.ts';
export { TR_BYPASS, TR_FAULT, TR_MSI, TR_TRANSLATED, TranslateSlots, type TranslateOutcome } from './dma.ts';
