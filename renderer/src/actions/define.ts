// What one UI action is: its words, where it applies, and how it gets its
// request. Each action is one file beside this one (actions/index.ts finds
// them all); an action with options is a .vue file whose component is the
// options form, bound to the request with v-model:args.
import type { Component } from 'vue';
import type { DiskNode, DiskRef, OperationArgs } from '../../../server/api';

/** UI actions: the job operations, and rename for core's name operation (a dialog of its own). */
export type ActionName = Exclude<OperationArgs['op'], 'name'> | 'rename';

/** The disk an action works on (node is null for a disk outside the tree, e.g. an orphan). */
export interface ActionTarget {
  ref: DiskRef;
  node: DiskNode | null;
  label: string;
}

export interface ActionDef {
  name: ActionName;
  label: string;
  /** Toolbar button text (the toolbar must fit one line). */
  short: string;
  /** Shown in the tooltip. */
  hint: string;
  /** Changes files: goes through a plan and a confirmation first. */
  destructive: boolean;
  /** Only in the disk's context menu: a rare action that would crowd the toolbar out of its width. */
  menuOnly?: boolean;
  /** Place in the toolbar and the context menu (ascending). */
  order: number;
  /** Works on VHDX files too (the rest are VHD-only until vhdsnap writes VHDX: actions/index.ts says so for them). */
  vhdx?: true;
  /** True where the action makes sense for this disk (the plan still has the last word), else why not, in words for the tooltip. */
  applies(node: DiskNode): true | string;
  /** The request without asking anything (an action with no options, or whose options do not apply to this target). */
  request?(target: ActionTarget): OperationArgs;
  /** Whether to show the options form for this target (default: whenever the action has one). */
  asks?(target: ActionTarget): boolean;
  /** Starts at once with this button text instead of going through a plan (actions that write nothing). */
  startLabel?: string;
  /** Keyboard shortcut for the selected disk: a key name (KeyboardEvent.key), with `mod` for Ctrl (⌘ on macOS). */
  key?: { key: string; mod?: boolean; label: string };
}

/** An action module: its definition, and (for a .vue file) the options form. */
export interface ActionModule {
  action: ActionDef;
  default?: Component;
}

export const defineAction = <const D extends ActionDef>(d: D): D => d;
