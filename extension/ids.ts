/**
 * Every identifier the extension shares with package.json: commands, views, the activity-bar container, the
 * summary panel's view type, settings and context keys. One place, checked against the manifest by
 * test/unit/ids.test.ts, so a renamed command cannot silently lose its menu entry.
 */

export const EXTENSION_ID = 'famulus.famulus';

/** Palette category of every command. */
export const CATEGORY = 'Famulus';

export const Commands = {
  ask: 'famulus.ask',
  askAboutSelection: 'famulus.askAboutSelection',
  newTopic: 'famulus.newTopic',
  summarizeFile: 'famulus.summarizeFile',
  readWorkspace: 'famulus.readWorkspace',
  refreshMemory: 'famulus.refreshMemory',
  forgetMemory: 'famulus.forgetMemory',
  selectModel: 'famulus.selectModel',
  selectDevice: 'famulus.selectDevice',
  showStatus: 'famulus.showStatus',
  stop: 'famulus.stop',
  clearConversation: 'famulus.clearConversation',
  undoClearConversation: 'famulus.undoClearConversation',
  goToDefinition: 'famulus.goToDefinition',
  showFiles: 'famulus.showFiles',
  useTeamMemory: 'famulus.useTeamMemory',
} as const;
export type CommandId = (typeof Commands)[keyof typeof Commands];

/** Titles as the palette shows them (the manifest's `title`; the category is added by VS Code). */
export const CommandTitles: Record<CommandId, string> = {
  [Commands.ask]: 'Ask about This Workspace',
  [Commands.askAboutSelection]: 'Ask about Selection',
  [Commands.newTopic]: 'New Topic',
  [Commands.summarizeFile]: 'Summarise File',
  [Commands.readWorkspace]: 'Read Workspace into Memory',
  [Commands.refreshMemory]: 'Refresh Memory',
  [Commands.forgetMemory]: 'Forget Workspace Memory',
  [Commands.selectModel]: 'Select Model',
  [Commands.selectDevice]: 'Select Device',
  [Commands.showStatus]: 'Show Memory Status',
  [Commands.stop]: 'Stop Answering',
  [Commands.clearConversation]: 'Clear Conversation',
  [Commands.undoClearConversation]: 'Undo Clear Conversation',
  [Commands.goToDefinition]: 'Go to Definition in Memory',
  [Commands.showFiles]: 'Show Files in Memory',
  [Commands.useTeamMemory]: 'Use Team Memory',
};

export const Views = {
  /** The activity-bar container that holds the chat. */
  container: 'famulus',
  /** The sidebar chat (a WebviewView). */
  chat: 'famulus.chat',
} as const;

/** The summary panel beside the editor (a WebviewPanel, revived by a serializer). */
export const SUMMARY_PANEL_TYPE = 'famulus.summary';

/** Settings, without the `famulus.` section prefix as `getConfiguration('famulus')` takes them. */
export const SECTION = 'famulus';
export const Settings = {
  modelPath: 'modelPath',
  device: 'device',
  maxFileSize: 'maxFileSize',
  include: 'include',
  exclude: 'exclude',
  defaultExcludes: 'defaultExcludes',
  skipMinified: 'skipMinified',
  readOnOpen: 'readOnOpen',
  updateOnChange: 'updateOnChange',
  answerLength: 'answerLength',
  temperature: 'temperature',
  repeatPenalty: 'repeatPenalty',
  rereadTokens: 'rereadTokens',
  historyTokens: 'historyTokens',
  teamMemorySource: 'teamMemory.source',
} as const;
export type SettingKey = (typeof Settings)[keyof typeof Settings];

/** Context keys used in `when` clauses. */
export const ContextKeys = {
  busy: 'famulus.busy',
  hasMemory: 'famulus.hasMemory',
  /** The conversation was cleared and can be brought back. */
  canUndoClear: 'famulus.canUndoClear',
} as const;

/** Keys in the extension's workspaceState memento (modelFolders: in its globalState). */
export const StateKeys = {
  conversation: 'famulus.conversation',
  offeredRead: 'famulus.offeredRead',
  /** The last reason a team-memory bundle was not used, told once (a new reason is told again). */
  teamMemoryProblem: 'famulus.teamMemoryProblem',
  /** The model id of the last read announced as done ("Famulus has read N files…"): once per workspace and model. */
  announcedRead: 'famulus.announcedRead',
  /** Model folders chosen with Select Model, most recent first (globalState: they are paths on this machine). */
  modelFolders: 'famulus.modelFolders',
} as const;
