// A two-service HTTP application for Spoor's end-to-end tests, run with the
// OpenTelemetry Java agent attached: `frontend PORT BACKEND_URL` answers
// GET /checkout by calling the backend's GET /price; `backend PORT` answers
// GET /price. Only the JDK's HTTP server and client are used; the agent
// instruments both.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

public final class SpoorDemo {
  private SpoorDemo() {}

  private static void reply(HttpExchange exchange, int status, String text) throws IOException {
    byte[] body = text.getBytes(StandardCharsets.UTF_8);
    exchange.sendResponseHeaders(status, body.length);
    exchange.getResponseBody().write(body);
    exchange.close();
  }

  public static void main(String[] args) throws Exception {
    String role = args[0];
    String host = System.getenv().getOrDefault("DEMO_HOST", "127.0.0.1");
    int port = Integer.parseInt(args[1]);
    HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
    if (role.equals("frontend")) {
      HttpClient client = HttpClient.newHttpClient();
      URI price = URI.create(args[2] + "/price?item=42");
      server.createContext("/checkout", exchange -> {
        try {
          HttpResponse<String> answer =
              client.send(HttpRequest.newBuilder(price).GET().build(), HttpResponse.BodyHandlers.ofString());
          reply(exchange, 200, "total " + answer.body());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          reply(exchange, 500, "interrupted");
        }
      });
    } else {
      server.createContext("/price", exchange -> reply(exchange, 200, "9.99"));
    }
    server.start();
    System.out.println("ready " + role + " on " + host + ":" + port);
  }
}
