// Starts Amazon DynamoDB Local bound to one host (127.0.0.1 by default) instead of every
// interface. DynamoDB Local's own command line has no host option, but the Jetty server it
// builds does: this launcher lets DynamoDB Local build its server from the usual options,
// then points the Jetty connector at the host and port before starting it.
//
// Run as a single-file source program (no compilation step), with DynamoDBLocal.jar on the
// class path (its manifest brings in DynamoDBLocal_lib/*.jar):
//
//   java -cp DynamoDBLocal.jar -Djava.library.path=DynamoDBLocal_lib \
//     DynamoDbLocalLauncher.java -host 127.0.0.1 -port 0 -inMemory -disableTelemetry
//
// Options handled here: -host <address> (default 127.0.0.1) and -port <n> (default 8000;
// 0 picks a free port, which DynamoDB Local's own -port refuses). Every other option goes to
// DynamoDB Local unchanged (-inMemory, -dbPath <dir>, -sharedDb, -disableTelemetry, ...).
//
// Once listening it prints one line to stdout: "DynamoDbLocalLauncher listening on <host>:<port>".
// It exits when its standard input reaches end of file, so it never outlives the process
// that started it with a piped stdin, even if that process is killed with SIGKILL.

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.CommandLineInput;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class DynamoDbLocalLauncher {
    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 8000;
        List<String> forwarded = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("-host") && i + 1 < args.length) {
                host = args[++i];
            } else if (args[i].equals("-port") && i + 1 < args.length) {
                port = Integer.parseInt(args[++i]);
            } else {
                forwarded.add(args[i]);
            }
        }

        // createServer() rather than createServerFromCommandLineArgs(): the latter also prints
        // a configuration banner showing the -port option, which this launcher overrides.
        CommandLineInput input = new CommandLineInput(forwarded.toArray(new String[0]));
        if (!input.init()) {
            return; // -help or -version: already printed.
        }
        DynamoDBProxyServer proxy = ServerRunner.createServer(input);
        ServerConnector connector = connectorOf(proxy);
        connector.setHost(host);
        connector.setPort(port);

        exitWhenStdinCloses();
        // safeStart() lets a bind failure propagate (start() would print it and carry on),
        // and skips the start-up telemetry call.
        try {
            proxy.safeStart();
        } catch (Exception e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            System.err.println("DynamoDbLocalLauncher could not listen on " + host + ":" + port + ": " + e + " (" + cause + ")");
            System.exit(1);
        }
        System.out.println("DynamoDbLocalLauncher listening on " + host + ":" + connector.getLocalPort());
        System.out.flush();
        proxy.join();
    }

    // DynamoDBProxyServer keeps its Jetty server in a private field named "server".
    private static ServerConnector connectorOf(DynamoDBProxyServer proxy) throws ReflectiveOperationException {
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length != 1 || !(connectors[0] instanceof ServerConnector)) {
            throw new IllegalStateException("Expected one ServerConnector, found " + connectors.length + " connectors");
        }
        return (ServerConnector) connectors[0];
    }

    private static void exitWhenStdinCloses() {
        Thread watchdog = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // Ignore input; only end of file matters.
                }
            } catch (java.io.IOException ignored) {
                // A broken pipe means the parent is gone too.
            }
            System.exit(0);
        }, "stdin-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }
}
