package org.llmworker.testengine;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** Camunda 7.24 with its REST API and webapps, configured in application.yaml like Run. */
@SpringBootApplication
public class TestEngineApplication {

  public static void main(String[] args) {
    SpringApplication.run(TestEngineApplication.class, args);
  }
}
