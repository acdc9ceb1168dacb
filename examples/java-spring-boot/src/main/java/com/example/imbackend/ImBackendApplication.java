package com.example.imbackend;

import org.apache.dubbo.config.spring.context.annotation.EnableDubbo;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A backend of the IMA gateway: {@link PushController} pushes to users through the gateways,
 * {@link BusinessService} receives what their clients send. Both find each other through Nacos.
 */
@SpringBootApplication
@EnableDubbo
public class ImBackendApplication {

  public static void main(String[] args) {
    SpringApplication.run(ImBackendApplication.class, args);
  }
}
