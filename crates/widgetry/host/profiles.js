/*! Host profiles: how each real host treats a widget (docs/hosts.md), for the page to behave
 * the same way. */

const FULL = { openLinks: {}, serverTools: {}, serverResources: {}, logging: {}, message: { text: {} }, updateModelContext: { text: {}, structuredContent: {} } };

export const PROFILES = {
  chatgpt: {
    label: 'ChatGPT',
    hostInfo: { name: 'chatgpt (widgetry host page)', version: '1' },
    capabilities: FULL,
    openai: true, // window.openai on top of the MCP Apps bridge
    approval: true, // tools that are not read-only wait for the user before tool-input
    connect: true, // honours connectDomains
    frames: true,
  },
  claude: {
    label: 'Claude',
    hostInfo: { name: 'claude (widgetry host page)', version: '1' },
    capabilities: FULL,
    openai: false,
    approval: false,
    connect: false, // ignores connectDomains: the widget may fetch nothing
    frames: false, // frameDomains restricted
  },
  generic: {
    label: 'Generic MCP Apps host',
    hostInfo: { name: 'mcp-apps (widgetry host page)', version: '1' },
    capabilities: FULL,
    openai: false,
    approval: false,
    connect: true,
    frames: true,
  },
};

export const profileOf = (name) => PROFILES[name] || PROFILES.chatgpt;
