// A minimal MCP Apps host for the browser test: the official TypeScript MCP client over streamable
// HTTP, and the official AppBridge driving the view in a sandboxed iframe under the spec's default CSP.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { AppBridge, PostMessageTransport, getToolUiResourceUri } from "@modelcontextprotocol/ext-apps/app-bridge";

const EXTENSION = "io.modelcontextprotocol/ui";
const MIME = "text/html;profile=mcp-app";
// What the spec requires a host to apply when the resource declares no _meta.ui.csp.
const DEFAULT_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; media-src 'self' data:; connect-src 'none'";

let client = null;
let tools = [];
let bridge = null;
let context = null;
/** Every tools/call the view made through the host: { name, arguments, result }. */
const calls = [];
/** The live strip's calls (its long poll), apart from those a person's actions make. */
const live = [];
const LIVE_TOOL = "recent_call_events";
/** What the view told the model through ui/update-model-context. */
const contexts = [];
const log = [];

async function connect(url) {
  client = new Client(
    { name: "sipsim-test-host", version: "1.0.0" },
    { capabilities: { extensions: { [EXTENSION]: { mimeTypes: [MIME] } } } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  tools = (await client.listTools()).tools;
  return tools.map((t) => ({ name: t.name, meta: t._meta ?? null }));
}

/**
 * Call a tool as the model would, then render its view with the arguments and the result, in a column
 * `width` pixels wide (a chat column is about 420).
 */
async function show(name, args, { theme = "light", serverTools = true, width = 780 } = {}) {
  const tool = tools.find((t) => t.name === name);
  const uri = getToolUiResourceUri(tool);
  if (!uri) throw new Error(`${name} names no view`);
  const [resource] = (await client.readResource({ uri })).contents;
  if (resource.mimeType !== MIME) throw new Error(`unexpected MIME type ${resource.mimeType}`);
  const result = await client.callTool({ name, arguments: args });
  await mount(resource.text, tool, args, result, theme, serverTools, width);
  return result;
}

function mount(html, tool, args, result, theme, serverTools, width) {
  bridge?.close?.();
  document.getElementById("stage").replaceChildren();
  calls.length = 0;
  live.length = 0;
  contexts.length = 0;
  return new Promise((resolve, reject) => {
    const frame = document.createElement("iframe");
    frame.setAttribute("sandbox", "allow-scripts"); // an opaque origin, as hosts do
    frame.title = "Calls dashboard";
    frame.srcdoc = html.replace("<head>", `<head><meta http-equiv="Content-Security-Policy" content="${DEFAULT_CSP}">`);
    const stage = document.getElementById("stage");
    stage.style.width = `${width}px`;
    stage.append(frame);
    document.body.dataset.theme = theme;
    context = {
      theme,
      displayMode: "inline",
      availableDisplayModes: ["inline", "fullscreen"],
      platform: "web",
      locale: "en-US",
      containerDimensions: { width, maxHeight: 6000 },
      toolInfo: { tool },
    };
    const capabilities = { logging: {}, updateModelContext: { text: {} }, ...(serverTools ? { serverTools: {} } : {}) };
    bridge = new AppBridge(client, { name: "sipsim-test-host", version: "1.0.0" }, capabilities, {
      hostContext: context,
    });
    bridge.onsizechange = ({ height }) => {
      if (height) frame.style.height = `${height}px`;
    };
    bridge.onloggingmessage = (message) => log.push(message);
    bridge.onrequestdisplaymode = async ({ mode }) => {
      context = { ...context, displayMode: mode };
      document.body.dataset.displayMode = mode;
      bridge.setHostContext(context);
      return { mode };
    };
    bridge.onupdatemodelcontext = async (params) => {
      contexts.push(params);
      return {};
    };
    bridge.oninitialized = async () => {
      await bridge.sendToolInput({ arguments: args });
      await bridge.sendToolResult(result);
      resolve();
    };
    bridge
      .connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow))
      .then(() => {
        // Record what the view asks for, and refuse what a host must refuse: tools not offered to apps.
        const proxy = bridge.oncalltool;
        bridge.oncalltool = async (params, extra) => {
          const tool = tools.find((t) => t.name === params.name);
          const visibility = tool?._meta?.ui?.visibility ?? ["model", "app"];
          if (!tool || !visibility.includes("app")) throw new Error(`${params.name} is not available to apps`);
          const entry = { name: params.name, arguments: params.arguments, result: null };
          (params.name === LIVE_TOOL ? live : calls).push(entry);
          entry.result = await proxy(params, extra);
          return entry.result;
        };
      })
      .catch(reject);
  });
}

/** Change the host's theme while the view is open. */
function setTheme(theme) {
  context = { ...context, theme };
  document.body.dataset.theme = theme;
  bridge.setHostContext(context);
}

window.host = { connect, show, setTheme, calls, live, contexts, log };
